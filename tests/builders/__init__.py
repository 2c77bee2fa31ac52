"""Builders the test files share: values, stand-ins and small runners, each in a module named for
what it holds. Fixtures stay in tests/conftest.py; test files import these from here, never from
another test file."""
