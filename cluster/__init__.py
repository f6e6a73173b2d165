"""Face clustering: group the face captures of a time window into identities."""
