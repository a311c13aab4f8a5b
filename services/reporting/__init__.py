"""reporting: read models without personal data — KPIs per buurt, category and partner."""
