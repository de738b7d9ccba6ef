"""Thin Discord adapters: read Discord input, call one service, render the result."""
