"""A staticfiles finder serving plotly.js from the installed plotly package as `plotly/plotly.min.js`.

The plotly Python package ships the matching plotly.min.js in plotly/package_data/; serving that file keeps
the chart library and the figure generator on one version, with no CDN and no vendored copy. collectstatic
copies it like any other static file; whitenoise and the dev server find it through this finder.
"""

import os

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_DIR = os.path.join(os.path.dirname(plotly.__file__), "package_data")
PREFIX = "plotly"
FILES = ["plotly.min.js"]


class PlotlyJsFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=PLOTLY_DIR)
        self.storage.prefix = PREFIX

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        for name in FILES:
            if path == f"{PREFIX}/{name}":
                full = os.path.join(PLOTLY_DIR, name)
                if os.path.exists(full):
                    return [full] if find_all or kwargs.get("all") else full
        return [] if (find_all or kwargs.get("all")) else None

    def list(self, ignore_patterns):
        for name in FILES:
            if os.path.exists(os.path.join(PLOTLY_DIR, name)):
                yield name, self.storage
