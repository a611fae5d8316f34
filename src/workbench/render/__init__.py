"""Execute notebooks and render them to a static site that works with no kernel."""

from workbench.render.execute import ParameterError, execute_notebook, inject_parameters
from workbench.render.site import MissingAssetsError, SiteReport, make_kernel_free, render_site

__all__ = [
    "MissingAssetsError",
    "ParameterError",
    "SiteReport",
    "execute_notebook",
    "inject_parameters",
    "make_kernel_free",
    "render_site",
]
