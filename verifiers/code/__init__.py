"""Reward source `code`: unit tests for model-written Python, run in a sandbox that isolation and forgery
attempts do not get through. Start with source.py (what is scored), then sandbox.py (what is protected)."""

from .extract import assemble_program, code_blocks, extract_code
from .sandbox import Limits, Sandbox, SandboxFailure, SandboxUnavailable, preflight, shared_sandbox
from .source import CodeConfig, CodeVerifier
from .tests_spec import InvalidReference, TestSpec, outputs_match, parse_reference

__all__ = [
    "CodeConfig",
    "CodeVerifier",
    "InvalidReference",
    "Limits",
    "Sandbox",
    "SandboxFailure",
    "SandboxUnavailable",
    "TestSpec",
    "assemble_program",
    "code_blocks",
    "extract_code",
    "outputs_match",
    "parse_reference",
    "preflight",
    "shared_sandbox",
]
