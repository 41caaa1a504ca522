import subprocess
m = input["marker"]
r = subprocess.run(["/bin/sh", "-c", "echo x > /tmp/%s-sub; echo x > %s/%s-sub; echo done" % (m, input["home"], m)],
                   capture_output=True, text=True)
output = r.stdout.strip()
