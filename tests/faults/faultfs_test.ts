/**
 * The power-cut filesystem itself (`_faultfs.py`): the premise of scenario 9 is that a cut keeps
 * exactly what was fsynced. Checked here with plain file operations, and its error injection.
 */

import assert from "node:assert/strict";
import { FaultFs, faultFsRequirement } from "./_faultfs.ts";

const fuse = faultFsRequirement("the faultfs self-test");

Deno.test({
  name: "faultfs: a cut keeps what was fsynced and drops what was not",
  ignore: fuse.ignore,
  fn: async () => {
    fuse.check();
    await using fs = await FaultFs.mount();
    const synced = await Deno.open(`${fs.mnt}/synced`, { write: true, create: true });
    await synced.write(new TextEncoder().encode("durable"));
    await synced.sync();
    const unsynced = await Deno.open(`${fs.mnt}/unsynced`, { write: true, create: true });
    await unsynced.write(new TextEncoder().encode("volatile"));
    // Commit the names (a directory fsync), not the second file's content.
    const dir = await Deno.open(fs.mnt, { read: true });
    await dir.sync();
    dir.close();
    await synced.write(new TextEncoder().encode(" and more")); // written after the fsync: lost
    assert.equal(await Deno.readTextFile(`${fs.mnt}/unsynced`), "volatile", "readers see unsynced data before the cut");
    await fs.cut();
    await assert.rejects(() => Deno.readTextFile(`${fs.mnt}/synced`), "every operation fails after the cut");
    synced.close();
    unsynced.close();
    await fs.unmount();
    assert.equal(await Deno.readTextFile(`${fs.backing}/synced`), "durable");
    assert.equal(await Deno.readTextFile(`${fs.backing}/unsynced`), "", "the name survived, its content did not");
  },
});

Deno.test({
  name: "faultfs: injected write and fsync errors reach the program, and heal restores normal operation",
  ignore: fuse.ignore,
  fn: async () => {
    fuse.check();
    await using fs = await FaultFs.mount();
    const file = await Deno.open(`${fs.mnt}/f.db-wal`, { write: true, create: true });
    try {
      await fs.fault("write ENOSPC count=1 path=*.db-wal");
      await assert.rejects(() => file.write(new Uint8Array(10)), /No space left|os error 28/);
      await file.write(new Uint8Array(10)); // count=1: the next write passes
      await fs.fault("fsync EIO path=*.db-wal");
      await assert.rejects(() => file.sync(), /Input\/output error|os error 5/);
      await fs.heal();
      await file.sync();
    } finally {
      file.close();
    }
  },
});
