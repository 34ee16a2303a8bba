"""Circuit diagrams (SVG), faithfulness curves, the HTML discovery report, terminal tables, rasters."""

from ._curves import CurveFormatError as CurveFormatError
from ._curves import curve_points as curve_points
from ._curves import curves_svg as curves_svg
from ._diagram import DiagramError as DiagramError
from ._diagram import circuit_svg as circuit_svg
from ._diagram import graphviz_available as graphviz_available
from ._diagram import layered_layout as layered_layout
from ._report import REPORT_FILES as REPORT_FILES
from ._report import report_html as report_html
from ._report import scores_csv as scores_csv
from ._report import write_report as write_report
from ._terminal import print_summary as print_summary
from ._terminal import summary_table as summary_table
from .raster import plot_raster as plot_raster
