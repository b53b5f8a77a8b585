"""Reports shared by every package: KPIs and report tables, and their renderers (CSV, XLSX)."""
