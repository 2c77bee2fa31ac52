"""MQTT: topic names, building a paho client, the transport (offline ring buffer, acknowledgements,
reconnects) and Home Assistant discovery.

What is published on the transport is the sink's, :mod:`edgepose.sinks.mqtt`; ``edgepose watch``
reuses :mod:`edgepose.mqtt.connect` and :mod:`edgepose.mqtt.topics` to subscribe with the same settings.
"""
