"""``tfprune launch`` starts N workers with one cluster's TF_CONFIG."""
import sys

import tfprune as tp
from tfprune.cli.cmd_launch import tf_configs


def test_tf_configs_one_cluster_distinct_ports():
    cfgs = tf_configs(3)
    workers = cfgs[0]["cluster"]["worker"]
    assert len(set(workers)) == 3
    assert [c["task"]["index"] for c in cfgs] == [0, 1, 2]
    assert all(c["cluster"] == cfgs[0]["cluster"] for c in cfgs)


def test_launch_runs_every_worker_and_reports_failure(capfd):
    code = tp.cli.main(["launch", "--workers", "2", "--", sys.executable,
                        "-c", "import json, os; c = json.loads(os.environ"
                        "['TF_CONFIG']); print('task', c['task']['index'], "
                        "len(c['cluster']['worker']), os.environ"
                        "['TF_NUM_INTRAOP_THREADS'])"])
    out = capfd.readouterr().out
    assert code == 0
    for i in (0, 1):
        assert f"[worker {i}] task {i} 2" in out
    code = tp.cli.main(["launch", "--workers", "2", "--", sys.executable,
                        "-c", "import json, os, sys, time; i = json.loads("
                        "os.environ['TF_CONFIG'])['task']['index']; "
                        "sys.exit(3) if i == 1 else time.sleep(60)"])
    assert code == 3
    assert "exited with status 3" in capfd.readouterr().err
