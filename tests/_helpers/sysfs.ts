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

/**
 * IIO devices and 1-Wire thermometers as the kernel shows them (Documentation/ABI/testing/
 * sysfs-bus-iio, sysfs-driver-w1_therm): a BME280 with processed `_input` channels, ADS1015 ADCs
 * with `_raw` + `_scale` (one per channel, one differential), a sensor with a shared `_offset`,
 * a light sensor; a DS18B20 with `temperature` (kernel ≥ 5.x), one with only `w1_slave`, one
 * whose last bus read failed its CRC.
 */
export const FAKE_IIO_W1: Readonly<Record<string, string>> = Object.freeze({
  "bus/iio/devices/iio:device0/name": "bme280\n",
  "bus/iio/devices/iio:device0/in_temp_input": "23450\n",
  "bus/iio/devices/iio:device0/in_humidityrelative_input": "45123\n",
  "bus/iio/devices/iio:device0/in_pressure_input": "101.325000\n",
  "bus/iio/devices/iio:device0/in_temp_oversampling_ratio": "2\n",
  "bus/iio/devices/iio:device1/name": "ads1015\n",
  "bus/iio/devices/iio:device1/in_voltage0_raw": "1000\n",
  "bus/iio/devices/iio:device1/in_voltage0_scale": "3.000000\n",
  "bus/iio/devices/iio:device1/in_voltage0-voltage1_raw": "-500\n",
  "bus/iio/devices/iio:device1/in_voltage0-voltage1_scale": "0.125000\n",
  "bus/iio/devices/iio:device1/in_voltage_sampling_frequency": "1600\n",
  "bus/iio/devices/iio:device2/name": "ads1015\n",
  "bus/iio/devices/iio:device2/in_voltage0_raw": "2\n",
  "bus/iio/devices/iio:device2/in_voltage_scale": "2.000000\n",
  "bus/iio/devices/iio:device3/name": "tmp117\n",
  "bus/iio/devices/iio:device3/in_temp_raw": "400\n",
  "bus/iio/devices/iio:device3/in_temp_offset": "-40\n",
  "bus/iio/devices/iio:device3/in_temp_scale": "62.5\n",
  "bus/iio/devices/iio:device4/name": "tsl2561\n",
  "bus/iio/devices/iio:device4/in_illuminance0_input": "321\n",
  "bus/iio/devices/trigger0/name": "sysfstrig0\n",
  "bus/w1/devices/w1_bus_master1/w1_master_slave_count": "3\n",
  "bus/w1/devices/28-0316a279a1ff/temperature": "21375\n",
  "bus/w1/devices/28-0316a279a1ff/w1_slave":
    "57 01 4b 46 7f ff 0c 10 6e : crc=6e YES\n57 01 4b 46 7f ff 0c 10 6e t=21375\n",
  "bus/w1/devices/28-000005e2fdc3/w1_slave":
    "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n",
  "bus/w1/devices/28-000005e2fdc4/w1_slave":
    "72 01 4b 46 7f ff 0e 10 57 : crc=58 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n",
});

/** What {@link FAKE_IIO_W1} must read as: sensor → [value, unit]. */
export const FAKE_IIO_W1_READINGS: Readonly<Record<string, [number, string]>> = Object.freeze({
  "bme280/temp": [23.45, "°C"],
  "bme280/humidityrelative": [45.123, "%"],
  "bme280/pressure": [101.325, "kPa"],
  "ads1015@iio:device1/voltage0": [3, "V"],
  "ads1015@iio:device1/voltage0-voltage1": [-0.0625, "V"],
  "ads1015@iio:device2/voltage0": [0.004, "V"],
  "tmp117/temp": [22.5, "°C"],
  "tsl2561/illuminance0": [321, "lx"],
  "w1/28-0316a279a1ff": [21.375, "°C"],
  "w1/28-000005e2fdc3": [23.125, "°C"],
});
