"""Reports a person can read and file: Markdown evidence rendered as PDF (``reports.pdf``).

An adapter beside the store and the cloud: it may import the domain, never services, the API
or the workers; only it imports the PDF library (reportlab) and the Markdown parser it reads
the evidence with.
"""
