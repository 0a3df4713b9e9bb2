"""Reports over desired and live state: drift, governance, export and conversion."""
