"""The dashboard: a web page served by ``margin serve`` at ``/`` that reads the public API."""
