"""Reports over the built models: matplotlib charts (PNG) in self-contained HTML.

`loglake.report.hubble.write_hubble_report(lake, tenant, out)` is the Hubble flow report
(`loglake report hubble`); `loglake.report.charts` draws the pictures.
"""
