"""Running edgepose as a service: systemd notification, signals, watchdog and the health endpoint."""
