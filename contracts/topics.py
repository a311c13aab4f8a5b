"""Kafka topic names (DESIGN.md, Events).

Record key: the case id for every case-related event, so a case keeps its order; the
partner id for partner.registered / agreement.changed; the referral id for a partner's
commands on its responses topic."""


class Topics:
    CASES = "samenwijk.cases"
    REFERRALS = "samenwijk.referrals"
    PARTNERS = "samenwijk.partners"
    SIGNALS = "samenwijk.signals"
    DEAD_LETTER = "samenwijk.deadletter"
    PARTNER_RESPONSES_PATTERN = r"samenwijk\.partner\..+\.responses"

    @staticmethod
    def partner_inbox(partner_id: str) -> str:
        return f"samenwijk.partner.{partner_id}.inbox"

    @staticmethod
    def partner_responses(partner_id: str) -> str:
        return f"samenwijk.partner.{partner_id}.responses"

    @classmethod
    def shared(cls) -> list[str]:
        """Topics every deployment has from the start (partner topics come per partner)."""
        return [cls.CASES, cls.REFERRALS, cls.PARTNERS, cls.SIGNALS, cls.DEAD_LETTER]
