"""intake: cases and complaints as the corporation submitted them, and the corporation's
view of its case (the live status of every partner's part)."""
