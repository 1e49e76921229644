//! The ALB twin: an HTTP reverse proxy with target groups, health checks and draining.
