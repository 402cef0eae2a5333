"""The local cloud: one long-lived background process per project that is AWS for the deployer.

    client.py     find / start / stop a project's cloud; every command that needs it starts it
    daemon.py     the process: the AWS endpoint, one API Gateway per deployed stage, the runtimes
    runtimes.py   each published version, runnable from the image that was pushed (ECR blobs)
    metrics.py    Lambda's metrics and the handler's EMF, and the template's alarms evaluated on them
    shift.py      CodeDeploy's traffic shifting on a scaled clock: golden set, weights, alarms
    smoke.py      push's smoke test through the stack's URL in the cloud
    emulator/     moto and our extensions of it, one module per resource kind, journaled to disk

State lives under <project>/.deployer/cloud/ and survives `local down`, a crash or kill -9: the
emulator replays its journal, the daemon reopens every stage on the port it had. Nothing listens
beyond 127.0.0.1, and no AWS credential of the user's shell reaches it.
"""
