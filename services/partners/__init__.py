"""partners: partner registry, data-sharing agreements, delivery to partner inboxes, the
partner-facing API and the processing log of every delivery and read."""
