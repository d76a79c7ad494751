//! GeoTIFF georeferencing, read the way GDAL (and so rasterio and rioxarray) reads it: the
//! affine transform from ModelTransformation or tie point + pixel scale (shifted half a pixel
//! for PixelIsPoint rasters), the CRS's EPSG code and citations from the GeoKey directory,
//! and GDAL's nodata tag.

use std::io::{Read, Seek};

use serde_json::{json, Map, Value as J};
use tiff::decoder::Decoder;
use tiff::tags::Tag;
use tiff::TiffResult;

/// What rasterio's `transform`, `crs` and `nodata` would say.
#[derive(Debug, Clone)]
pub struct Geo {
    /// rasterio's `Affine(a, b, c, d, e, f)`: x = a*col + b*row + c, y = d*col + e*row + f.
    pub transform: [f64; 6],
    /// False when the file has no georeferencing (rasterio: identity transform + a warning).
    pub georeferenced: bool,
    pub epsg: Option<u32>,
    /// The GeoKey directory, by key name.
    pub keys: Map<String, J>,
    /// GDAL_NODATA as written (`-9999`, `nan`).
    pub nodata: Option<String>,
}

impl Geo {
    /// The nodata value as a number, when it is one.
    pub fn nodata_value(&self) -> Option<f64> {
        let text = self.nodata.as_deref()?.trim();
        match text.to_ascii_lowercase().as_str() {
            "nan" | "-nan" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            t => t.parse().ok(),
        }
    }

    /// rioxarray's pixel-centre coordinates along x (`width` of them). rioxarray computes
    /// `(affine * translation(0.5, 0.5)) * (col, 0)`; the same operations in the same order
    /// give the same values bit for bit.
    pub fn xs(&self, width: u64) -> Vec<f64> {
        let [a, b, c, ..] = self.transform;
        let c_centre = a * 0.5 + b * 0.5 + c;
        (0..width)
            .map(|i| i as f64 * a + 0.0 * b + c_centre)
            .collect()
    }

    /// rioxarray's pixel-centre coordinates along y: `(affine * translation(0.5, 0.5)) * (0, row)`.
    pub fn ys(&self, height: u64) -> Vec<f64> {
        let [_, _, _, d, e, f] = self.transform;
        let f_centre = d * 0.5 + e * 0.5 + f;
        (0..height)
            .map(|j| 0.0 * d + j as f64 * e + f_centre)
            .collect()
    }

    pub fn rotated(&self) -> bool {
        self.transform[1] != 0.0 || self.transform[3] != 0.0
    }

    pub fn metadata(&self) -> J {
        json!({
            "transform": self.transform,
            "georeferenced": self.georeferenced,
            "crs": self.epsg.map(|c| format!("EPSG:{c}")),
            "geokeys": self.keys,
            "nodata": self.nodata,
        })
    }
}

fn key_name(key: u16) -> String {
    match key {
        1024 => "GTModelTypeGeoKey".into(),
        1025 => "GTRasterTypeGeoKey".into(),
        1026 => "GTCitationGeoKey".into(),
        2048 => "GeographicTypeGeoKey".into(),
        2049 => "GeogCitationGeoKey".into(),
        2050 => "GeogGeodeticDatumGeoKey".into(),
        2054 => "GeogAngularUnitsGeoKey".into(),
        2057 => "GeogSemiMajorAxisGeoKey".into(),
        2059 => "GeogInvFlatteningGeoKey".into(),
        3072 => "ProjectedCSTypeGeoKey".into(),
        3073 => "PCSCitationGeoKey".into(),
        3076 => "ProjLinearUnitsGeoKey".into(),
        4096 => "VerticalCSTypeGeoKey".into(),
        other => format!("GeoKey{other}"),
    }
}

/// "User-defined" in GeoTIFF's code tables: not an EPSG code.
const USER_DEFINED: u64 = 32767;

pub fn read<R: Read + Seek>(d: &mut Decoder<R>) -> TiffResult<Geo> {
    let doubles = d.find_tag(Tag::GeoDoubleParamsTag)?;
    let doubles = doubles.map(|v| v.into_f64_vec()).transpose()?;
    let ascii = match d.find_tag(Tag::GeoAsciiParamsTag)? {
        Some(v) => Some(v.into_string()?),
        None => None,
    };
    let mut keys = Map::new();
    let mut raster_type = 1;
    let mut epsg = None;
    if let Some(dir) = d.find_tag_unsigned_vec::<u16>(Tag::GeoKeyDirectoryTag)? {
        for entry in dir.get(4..).unwrap_or_default().chunks_exact(4) {
            let (key, location, count, offset) = (entry[0], entry[1], entry[2], entry[3]);
            let (start, n) = (usize::from(offset), usize::from(count));
            let value = match location {
                0 => json!(offset),
                34736 => match doubles.as_ref().and_then(|v| v.get(start..start + n)) {
                    Some([one]) => json!(one),
                    Some(many) => json!(many),
                    None => J::Null,
                },
                34737 => ascii
                    .as_ref()
                    .and_then(|s| s.get(start..start + n))
                    .map(|s| J::String(s.trim_end_matches(['|', '\0']).to_string()))
                    .unwrap_or(J::Null),
                _ => J::Null,
            };
            match (key, value.as_u64()) {
                (1025, Some(t)) => raster_type = t,
                (3072, Some(code)) if code != USER_DEFINED => epsg = u32::try_from(code).ok(),
                (2048, Some(code)) if code != USER_DEFINED && epsg.is_none() => {
                    epsg = u32::try_from(code).ok()
                }
                _ => {}
            }
            keys.insert(key_name(key), value);
        }
    }
    let matrix = d.find_tag(Tag::ModelTransformationTag)?;
    let matrix = matrix.map(|v| v.into_f64_vec()).transpose()?;
    let scale = d.find_tag(Tag::ModelPixelScaleTag)?;
    let scale = scale.map(|v| v.into_f64_vec()).transpose()?;
    let tie = d.find_tag(Tag::ModelTiepointTag)?;
    let tie = tie.map(|v| v.into_f64_vec()).transpose()?;
    // GDAL's geotransform: [c, a, b, f, d, e].
    let gt = match (&matrix, &scale, &tie) {
        (Some(m), _, _) if m.len() >= 8 => Some([m[3], m[0], m[1], m[7], m[4], m[5]]),
        (_, Some(s), Some(t)) if s.len() >= 2 && t.len() >= 6 => {
            let (a, e) = (s[0], -s[1]);
            Some([t[3] - t[0] * a, a, 0.0, t[4] - t[1] * e, 0.0, e])
        }
        _ => None,
    };
    let nodata = match d.find_tag(Tag::GdalNodata)? {
        Some(v) => Some(v.into_string()?.trim_end_matches('\0').to_string()),
        None => None,
    };
    let (transform, georeferenced) = match gt {
        Some(mut g) => {
            if raster_type == 2 {
                // PixelIsPoint: GDAL moves the origin to the corner of the first pixel.
                g[0] -= g[1] * 0.5 + g[2] * 0.5;
                g[3] -= g[4] * 0.5 + g[5] * 0.5;
            }
            ([g[1], g[2], g[0], g[4], g[5], g[3]], true)
        }
        None => ([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], false),
    };
    Ok(Geo {
        transform,
        georeferenced,
        epsg,
        keys,
        nodata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_centres_and_nodata() {
        let g = Geo {
            transform: [10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0],
            georeferenced: true,
            epsg: Some(32618),
            keys: Map::new(),
            nodata: Some("-9999".into()),
        };
        assert_eq!(g.xs(2), [500005.0, 500015.0]);
        assert_eq!(g.ys(2), [3999995.0, 3999985.0]);
        assert_eq!(g.nodata_value(), Some(-9999.0));
        let nan = Geo {
            nodata: Some("nan".into()),
            ..g
        };
        assert!(nan.nodata_value().is_some_and(f64::is_nan));
    }
}
