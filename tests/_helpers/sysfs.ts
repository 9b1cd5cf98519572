/**
 * Test helpers for fake sysfs trees (for `--sysfs-root`), modelled on the kernel's ABI.
 *
 * @module
 */

/**
 * Writes a fake sysfs tree under `root` (for `--sysfs-root`): `files` maps paths relative to
 * the root (e.g. `class/hwmon/hwmon0/temp1_input`) to their content.
 */
export async function writeFakeSysfs(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const path = `${root}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, content);
  }
}

/** A small but realistic sysfs tree: two thermal zones and three hwmon chips (two share a name). */
export const FAKE_SYSFS: Readonly<Record<string, string>> = Object.freeze({
  "class/thermal/thermal_zone0/type": "acpitz\n",
  "class/thermal/thermal_zone0/temp": "27800\n",
  "class/thermal/thermal_zone1/type": "x86_pkg_temp\n",
  "class/thermal/thermal_zone1/temp": "45000\n",
  "class/thermal/cooling_device0/type": "Processor\n",
  "class/hwmon/hwmon0/name": "coretemp\n",
  "class/hwmon/hwmon0/temp1_input": "46000\n",
  "class/hwmon/hwmon0/temp1_label": "Package id 0\n",
  "class/hwmon/hwmon0/temp2_input": "-1500\n",
  "class/hwmon/hwmon1/name": "nvme\n",
  "class/hwmon/hwmon1/temp1_input": "38850\n",
  "class/hwmon/hwmon2/name": "nvme\n",
  "class/hwmon/hwmon2/in0_input": "12096\n",
  "class/hwmon/hwmon2/fan1_input": "1200\n",
  "class/hwmon/hwmon2/power1_input": "4500000\n",
  "class/hwmon/hwmon2/curr1_input": "250\n",
});
