"""Local stand-ins for the CRM APIs the export destinations talk to (HubSpot, a Salesforce-style CRM).

Fixtures `hubspot_standin` and `salesforce_standin` live in fixtures.py; tests/conftest.py registers them in
`pytest_plugins`.
"""
