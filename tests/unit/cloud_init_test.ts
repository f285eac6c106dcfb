import { parseYaml as parse } from "../../src/config.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { metaData, userData } from "../../src/cloud_init.ts";

const settings = {
  instanceId: "cubic-dev-1234abcd",
  hostname: "dev",
  user: "cubic",
  authorizedKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ cubic@dev",
  hostKey: {
    privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n",
    publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH root@dev",
  },
};

Deno.test("user-data starts with #cloud-config and is valid YAML", () => {
  const text = userData(settings);
  assert(text.startsWith("#cloud-config\n"));
  assert(typeof parse(text) === "object");
});

Deno.test("the user logs in by key only: password locked, password SSH off", () => {
  const doc = parse(userData(settings)) as Record<string, unknown>;
  assertEquals(doc.users, [{
    name: "cubic",
    lock_passwd: true,
    shell: "/bin/bash",
    sudo: "ALL=(ALL) NOPASSWD:ALL",
    ssh_authorized_keys: [settings.authorizedKey],
  }]);
  assertEquals(doc.ssh_pwauth, false);
  assertEquals(doc.disable_root, true);
  assert(!("password" in doc) && !("chpasswd" in doc));
});

Deno.test("the guest's only host key is the one Cubic generated, newlines intact", () => {
  const doc = parse(userData(settings)) as Record<string, unknown>;
  assertEquals(doc.ssh_deletekeys, true);
  assertEquals(doc.ssh_keys, {
    ed25519_private: settings.hostKey.privateKey,
    ed25519_public: settings.hostKey.publicKey,
  });
});

Deno.test("meta-data names the instance and its hostname", () => {
  assertEquals(parse(metaData(settings)), {
    "instance-id": "cubic-dev-1234abcd",
    "local-hostname": "dev",
  });
});
