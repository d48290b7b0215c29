"""The Python syft-code-queue client, driven the way its users drive it, for the network tests.

  python_client.py submit <owner> <folder> <name>   prints {"uid": ...}
  python_client.py status <uid>                     prints {"status": ..., "error_message": ...} or {"status": null}
  python_client.py mine                             prints {"uids": [...]}: its list_my_jobs()
"""
import json
import sys
from pathlib import Path

from syft_code_queue.client import create_client


def main() -> None:
    client = create_client()
    command = sys.argv[1]
    if command == "submit":
        job = client.submit_code(sys.argv[2], Path(sys.argv[3]), sys.argv[4])
        print(json.dumps({"uid": str(job.uid)}))
    elif command == "status":
        from uuid import UUID

        job = client.get_job(UUID(sys.argv[2]))
        print(json.dumps({"status": job.status.value if job else None, "error_message": job.error_message if job else None}))
    elif command == "mine":
        print(json.dumps({"uids": [str(job.uid) for job in client.list_my_jobs(limit=500)]}))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
