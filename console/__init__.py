"""Operator and supervisor pages, the /console Socket.IO namespace, the CTI webhook."""
