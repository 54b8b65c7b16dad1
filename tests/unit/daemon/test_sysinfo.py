"""/info reports what the daemon applies, not what its environment or config merely says."""

from __future__ import annotations

from dockyard.daemon import sysinfo


def test_info_reports_applied_settings_only(tmp_path, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("https_proxy", "http://proxy.invalid:3128")
    info = sysinfo.base_info(str(tmp_path), {"log-driver": "none", "labels": ["a=b"]})
    assert (info["HttpProxy"], info["HttpsProxy"], info["NoProxy"]) == ("", "", "")
    assert info["LoggingDriver"] == "none"  # containers get it by default (ContainerDefaults)
    assert info["LiveRestoreEnabled"] is True  # monitors always outlive the daemon
    assert info["Labels"] == ["a=b"]
    assert info["DefaultRuntime"] in info["Runtimes"]
