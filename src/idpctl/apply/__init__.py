"""Carrying out a Plan through Graph `$batch`, recording every step in the state."""
