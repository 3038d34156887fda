"""User errors vs bugs in every command-line tool.

Bad input raises `UserError`: the tool prints one line `Error: ...` and exits 1. Any other
exception is a bug: its traceback is printed and the tool exits with `BUG_EXIT_CODE` (70), so it
cannot be mistaken for a rejected input. click's usage errors keep exit status 2.
"""

import os

import click
from click.testing import CliRunner

import dataset_tool
import generate
import run_metrics
import run_training
from apps.cli import BUG_EXIT_CODE, user_errors
from tests.metrics.stand_ins import random_linear_generator
from tests.paths import FIXTURES
from tf_stylegan.errors import UserError


def invoke(command, *args):
    return CliRunner().invoke(command, [str(a) for a in args])


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0]


def assert_bug(result, message):
    assert result.exit_code == BUG_EXIT_CODE != 1, result.output
    assert "Traceback (most recent call last)" in result.output
    assert f"KeyError: '{message}'" in result.output


def raise_key_error(*args, **kwargs):
    raise KeyError("a bug in the library")


# --- The decorator itself -------------------------------------------------------------------
@click.command()
@click.option("--what", type=click.Choice(["user", "multiline", "bug", "usage", "ok"]))
@user_errors
def _tool(what):
    if what == "user":
        raise UserError("data.zip: not a snapshot.")
    if what == "multiline":
        raise UserError("first line\nsecond line")
    if what == "bug":
        raise KeyError("a bug in the library")
    if what == "usage":
        raise click.BadParameter("must be positive", param_hint="'--n'")
    click.echo("done")


def test_user_errors_decorator():
    assert invoke(_tool, "--what", "ok").output == "done\n"
    assert_one_line_error(invoke(_tool, "--what", "user"), "Error: data.zip: not a snapshot.")
    assert_one_line_error(invoke(_tool, "--what", "multiline"), "Error: first line")
    assert_bug(invoke(_tool, "--what", "bug"), "a bug in the library")
    result = invoke(_tool, "--what", "usage")
    assert result.exit_code == 2 and "Invalid value for '--n'" in result.output
    result = invoke(_tool, "--what", "nope")  # click's own validation
    assert result.exit_code == 2 and "Invalid value for '--what'" in result.output


def test_a_plain_value_error_is_a_bug_not_a_user_error():
    # Only UserError is bad input; a ValueError from anywhere else keeps its traceback.
    @click.command()
    @user_errors
    def tool():
        raise ValueError("shapes do not match")

    result = invoke(tool)
    assert result.exit_code == BUG_EXIT_CODE
    assert "ValueError: shapes do not match" in result.output and "Traceback" in result.output


# --- generate.py ----------------------------------------------------------------------------
def test_generate(tmp_path, monkeypatch):
    missing = tmp_path / "missing.zip"
    assert_one_line_error(invoke(generate.cli, "images", "--network", missing, "--seeds", "1",
                                 "--outdir", tmp_path / "out"),
                          f"{missing}: network file not found.")
    other = tmp_path / "network.h5"
    other.write_bytes(b"x")
    assert_one_line_error(invoke(generate.cli, "export", "--network", other,
                                 "--outdir", tmp_path / "m"),
                          "network.h5: expected a snapshot (.zip) or an official network pickle")
    result = invoke(generate.cli, "images", "--network", missing, "--seeds", "1",
                    "--outdir", tmp_path / "out", "--frobnicate")
    assert result.exit_code == 2 and "No such option" in result.output

    monkeypatch.setattr("tf_stylegan.snapshot.load_network", raise_key_error)
    assert_bug(invoke(generate.cli, "images", "--network", missing, "--seeds", "1",
                      "--outdir", tmp_path / "out"), "a bug in the library")


def test_generate_convert_refuses_mismatched_and_unsafe_pickles(tmp_path):
    data = open(os.path.join(FIXTURES, "official", "official-r32.pkl"), "rb").read()
    mixed = tmp_path / "mixed.pkl"  # a StyleGAN pickle whose generator claims to be G_main
    mixed.write_bytes(data.replace(b"X\x07\x00\x00\x00G_style", b"X\x06\x00\x00\x00G_main"))
    assert_one_line_error(invoke(generate.cli, "convert", mixed, tmp_path / "out.zip"),
                          "mixed.pkl", "built by 'G_synthesis'", "'G_synthesis_stylegan2'")
    unsafe = tmp_path / "unsafe.pkl"
    unsafe.write_bytes(b"\x80\x03cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85q\x01Rq\x02.")
    assert_one_line_error(invoke(generate.cli, "convert", unsafe, tmp_path / "out.zip"),
                          "unsafe.pkl", "'os.system', which is not allowed")
    assert not (tmp_path / "out.zip").exists()


# --- run_metrics.py -------------------------------------------------------------------------
def test_run_metrics(tmp_path, monkeypatch):
    network = tmp_path / "network-snapshot-000000.zip"
    assert_one_line_error(invoke(run_metrics.main, "--network", network, "--metrics", "ppl_zend"),
                          f"{network}: network file not found.")
    network.write_bytes(b"stand-in")
    monkeypatch.delenv("TF_STYLEGAN_CLASSIFIERS", raising=False)
    monkeypatch.setattr(run_metrics, "load_network",
                        lambda path, with_info: (None, None, random_linear_generator(resolution=32),
                                                 {}))
    assert_one_line_error(invoke(run_metrics.main, "--network", network, "--metrics", "ls",
                                 "--num-samples", "4", "--no-progress", "--run-dir", tmp_path),
                          "No attribute classifiers given: pass --classifiers DIR")
    result = invoke(run_metrics.main, "--network", network, "--num-samples", "1")
    assert result.exit_code == 2 and "--num-samples" in result.output

    monkeypatch.setattr(run_metrics, "load_network", raise_key_error)
    assert_bug(invoke(run_metrics.main, "--network", network, "--metrics", "ls"),
               "a bug in the library")


# --- dataset_tool.py ------------------------------------------------------------------------
def test_dataset_tool(tmp_path, monkeypatch):
    assert_one_line_error(invoke(dataset_tool.cli, "info", tmp_path / "nothing"),
                          "dataset directory not found")
    result = invoke(dataset_tool.cli, "create_from_images", tmp_path / "o", tmp_path,
                    "--shuffle", "2")
    assert result.exit_code == 2 and "--shuffle" in result.output

    monkeypatch.setattr("data.inspection.dataset_info", raise_key_error)
    assert_bug(invoke(dataset_tool.cli, "info", tmp_path), "a bug in the library")


# --- run_training.py ------------------------------------------------------------------------
def test_run_training(tmp_path, monkeypatch):
    assert_one_line_error(invoke(run_training.main, "--dataset", "missing", "--data-dir",
                                 tmp_path, "--config", "demo", "--dry-run"),
                          "dataset directory not found")
    result = invoke(run_training.main, "--loss", "hinge")
    assert result.exit_code == 2 and "--loss" in result.output

    monkeypatch.setattr("training.launch.run", raise_key_error)
    assert_bug(invoke(run_training.main, "--dataset", "tiny", "--dry-run"),
               "a bug in the library")
