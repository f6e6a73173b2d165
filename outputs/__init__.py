"""Where captures go besides Kafka: a signed webhook and a local disk archive."""
