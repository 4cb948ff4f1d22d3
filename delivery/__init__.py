"""Delivery: subscribers database, email messages, SMTP / outbox transports, exactly-once sending."""
