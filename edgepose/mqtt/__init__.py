"""MQTT: topic names, building a paho client, the offline ring buffer and Home Assistant discovery.

The sink that publishes poses is :mod:`edgepose.sinks.mqtt`; ``edgepose watch`` reuses
:mod:`edgepose.mqtt.connect` and :mod:`edgepose.mqtt.topics` to subscribe with the same settings.
"""
