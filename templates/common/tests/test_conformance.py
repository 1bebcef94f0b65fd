"""The standard conformance suite every cuervo-fabric connector passes."""

from __future__ import annotations

from cuervo_fabric.testing import connector_test_class

from {{ package }}.connector import {{ class_name }}

Test{{ class_name }}Conformance = connector_test_class({{ class_name }})
