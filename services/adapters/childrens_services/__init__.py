"""Children's social care adapter: CIN census JSON records and SSDA903 missing CSV."""
