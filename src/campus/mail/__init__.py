"""Composing and delivering mail: the SMTP backend, the development mailbox, the outbox."""
