"""The pure core: payload models, group keys, decisions. Imports nothing of Faust, Kafka or Postgres."""
