"""The audience builder's filter formsets as a browser posts them (audiences.forms: groups-N-*, filters-N-*)."""


def rows_post(rows: list[tuple], groups: list[tuple] = (), op: str = "and") -> dict:
    """Post data for `groups` [(key, op)] and `rows` [(group key, row key, field, op, value)], in page order."""
    data = {
        "filters_op": op,
        "groups-TOTAL_FORMS": str(len(groups)),
        "groups-INITIAL_FORMS": "0",
        "filters-TOTAL_FORMS": str(len(rows)),
        "filters-INITIAL_FORMS": "0",
    }
    for i, (key, group_op) in enumerate(groups):
        data |= {f"groups-{i}-key": key, f"groups-{i}-op": group_op}
    for i, (group, key, field, row_op, value) in enumerate(rows):
        data |= {
            f"filters-{i}-group": group,
            f"filters-{i}-key": key,
            f"filters-{i}-field": field,
            f"filters-{i}-op": row_op,
            f"filters-{i}-value": value,
        }
    return data
