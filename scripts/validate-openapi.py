#!/usr/bin/env python3
"""Validate an OpenAPI document, and golden JSON examples against its schemas.

usage: validate-openapi.py SPEC [GOLDEN_FILE=SchemaName ...]
Exits non-zero with the first problem on stderr.
"""
import json
import sys

from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename


def main() -> int:
    spec_path, *examples = sys.argv[1:]
    spec, _ = read_from_filename(spec_path)
    validate(spec)
    schemas = spec["components"]["schemas"]
    for example in examples:
        path, name = example.rsplit("=", 1)
        with open(path, encoding="utf-8") as handle:
            instance = json.load(handle)
        # Resolve $refs inside the schema against the whole document.
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        OAS31Validator(schema).validate(instance)
    print(f"{spec_path}: valid; {len(examples)} examples match their schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
