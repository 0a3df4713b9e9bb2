"""Renderings of a plan and findings: text, JSON, Markdown, GitHub annotations."""
