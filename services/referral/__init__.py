"""referral: routing rules, referrals, deadlines and the escalation ladder."""
