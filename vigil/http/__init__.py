"""The HTTP API: `vigil.http.app.create_app` builds it, `vigil serve` runs it."""
