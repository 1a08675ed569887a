"""The stream layer: thin adapters between Kafka (aiokafka, faust) and the plain core."""
