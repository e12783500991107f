import subprocess
def test_smoke():
    print(open("/proc/modules").read())
    print(subprocess.run(["ipvsadm", "-Ln"], capture_output=True, text=True).stdout)
    assert "ip_vs_rr" in open("/proc/modules").read()
