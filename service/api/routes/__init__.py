"""One router per resource; `service.main.create_app` mounts them."""
