"""DSP accounts, campaigns, their daily performance and targeted lists, and the history of DSP syncs.

Money is Decimal everywhere (budget, CPM, spend), in the account's currency (USD in the DSP).
"""

import uuid

from django.db import models


class DspAccount(models.Model):
    """An organization's account on DelivrDSP; `external_id` is the account id the DSP knows."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="dsp_accounts"
    )
    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=100)
    currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "external_id"], name="dspaccount_unique_external")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    ARCHIVED = "archived", "Archived"


class Campaign(models.Model):
    """A DSP campaign as last synced. `organization` repeats the account's, so reads scope on one column."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(DspAccount, on_delete=models.CASCADE, related_name="campaigns")
    external_id = models.CharField(max_length=100)
    name = models.CharField(max_length=300)
    status = models.CharField(max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.ACTIVE)
    budget = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    cpm = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    contacts_total = models.PositiveBigIntegerField(default=0)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "external_id"], name="campaign_unique_external")
        ]
        indexes = [models.Index(fields=["organization", "name"], name="campaign_org_name")]

    def __str__(self) -> str:
        return self.name


class CampaignDailyPerformance(models.Model):
    """One campaign's delivery on one day (UTC), as the DSP reports it; unique per campaign and day."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="daily")
    date = models.DateField()
    impressions = models.PositiveBigIntegerField(default=0)
    clicks = models.PositiveBigIntegerField(default=0)
    spend = models.DecimalField(max_digits=16, decimal_places=4, default=0)
    cpm = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    # Running totals from the campaign's first stored day up to this day, kept by the sync
    # (services.campaign_daily_cumulate): totals over any date range are two index lookups per campaign
    # (total at `to` minus total before `from`) instead of a scan of every daily row in the range.
    cum_impressions = models.PositiveBigIntegerField(default=0)
    cum_clicks = models.PositiveBigIntegerField(default=0)
    cum_spend = models.DecimalField(max_digits=20, decimal_places=4, default=0)

    class Meta:
        ordering = ["campaign", "date"]
        constraints = [models.UniqueConstraint(fields=["campaign", "date"], name="campaigndaily_unique_day")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.date}"


class CampaignList(models.Model):
    """An exported DSP list a campaign targets, with how many identifiers were sent and matched."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="lists")
    external_id = models.CharField(max_length=100)
    list_name = models.CharField(max_length=300)
    identifiers_count = models.PositiveBigIntegerField(default=0)
    matched_count = models.PositiveBigIntegerField(default=0)
    contacts_count = models.PositiveBigIntegerField(default=0)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["list_name"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "external_id"], name="campaignlist_unique_external")
        ]

    def __str__(self) -> str:
        return self.list_name


class SyncStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class CampaignSync(models.Model):
    """One run of the DSP sync for one account. Never stays RUNNING: failures and the reaper close it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(DspAccount, on_delete=models.CASCADE, related_name="syncs")
    status = models.CharField(max_length=20, choices=SyncStatus.choices, default=SyncStatus.QUEUED)
    triggered_by = models.CharField(max_length=200, default="schedule")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    campaigns_count = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)
    rows_dropped = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="campaignsync_org_created"),
            models.Index(fields=["status", "started_at"], name="campaignsync_status_started"),
        ]

    def __str__(self) -> str:
        return f"sync {self.account_id} {self.status}"
