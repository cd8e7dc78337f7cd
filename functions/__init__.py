"""The stack's functions declared as typed Python objects.

Most functions live in `functions/stack.yml` (the faas-cli file you also build and push with).
A function that needs what stack.yml cannot say (e.g. `non_root=False` for an image that must
run as root) can be declared here instead; names must not repeat across both. Example:

    from settings.function_spec import Function, Resources

    FUNCTIONS = (
        Function(
            name="hello",
            image="ghcr.io/example/hello:1.0.0",
            limits=Resources(memory="128Mi", cpu="200m"),
            labels={"com.openfaas.scale.min": "1", "com.openfaas.scale.max": "3"},
        ),
    )
"""

from settings.function_spec import Function

FUNCTIONS: tuple[Function, ...] = ()
