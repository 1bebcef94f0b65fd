"""The {{ display_name }} connector for cuervo-fabric."""
