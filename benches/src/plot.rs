//! The cluster benchmark's line chart, drawn with `plotters` into an RGB buffer and encoded with
//! the `png` crate. The font (DejaVu Sans) is compiled in from the `dejavu` crate: no system font
//! lookup, nothing fetched at build or run time.

use plotters::prelude::*;

/// One line of the chart.
pub struct Series {
    pub name: String,
    pub color: [u8; 3],
    pub points: Vec<(f64, f64)>,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// The name the bundled font is registered under in plotters.
const FONT: &str = "sans-serif";

fn register_font() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        if plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_err()
        {
            panic!("the bundled DejaVu Sans font does not parse");
        }
    });
}

/// A round number at or above `value` for an axis end.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= value {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// An axis label: `4K` for whole thousands, whole numbers bare, else one decimal.
fn label(value: f64) -> String {
    if value >= 1_000.0 && (value / 1_000.0).fract() == 0.0 {
        format!("{}K", value / 1_000.0)
    } else if value.fract() == 0.0 {
        format!("{value}")
    } else {
        format!("{value:.1}")
    }
}

impl Chart {
    /// Renders the chart as a PNG of `width` x `height` pixels.
    pub fn png(&self, width: u32, height: u32) -> Result<Vec<u8>, String> {
        let mut rgb = vec![0u8; width as usize * height as usize * 3];
        self.draw(&mut rgb, width, height)
            .map_err(|e| format!("drawing the chart: {e}"))?;
        let mut png = Vec::new();
        let mut encoder = png::Encoder::new(&mut png, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let encoding = |e: png::EncodingError| format!("encoding the chart: {e}");
        let mut writer = encoder.write_header().map_err(encoding)?;
        writer.write_image_data(&rgb).map_err(encoding)?;
        writer.finish().map_err(encoding)?;
        Ok(png)
    }

    fn draw(
        &self,
        rgb: &mut [u8],
        width: u32,
        height: u32,
    ) -> Result<(), Box<dyn std::error::Error>> {
        register_font();
        let root = BitMapBackend::with_buffer(rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let points = self.series.iter().flat_map(|s| s.points.iter());
        let x_max = nice_ceiling(points.clone().map(|p| p.0).fold(0.0, f64::max));
        let y_max = nice_ceiling(points.map(|p| p.1).fold(0.0, f64::max));
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, (FONT, 22))
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(75)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|v| label(*v))
            .y_label_formatter(&|v| label(*v))
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style((FONT, 16))
            .axis_desc_style((FONT, 17))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(200, 200, 200))
            .draw()?;
        for series in &self.series {
            let [r, g, b] = series.color;
            let color = RGBColor(r, g, b);
            chart
                .draw_series(LineSeries::new(
                    series.points.iter().copied(),
                    color.stroke_width(3),
                ))?
                .label(series.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 30, y)], color.stroke_width(3))
                });
            // A square marker on each measured point.
            chart.draw_series(series.points.iter().map(|p| {
                EmptyElement::at(*p) + Rectangle::new([(-4, -4), (4, 4)], color.filled())
            }))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 17))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(200, 200, 200))
            .draw()?;
        root.present()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart {
            title: "Title".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series {
                name: "p50".into(),
                color: [214, 39, 40],
                points: vec![(0.0, 1.0), (5.0, 3.0)],
            }],
        }
    }

    #[test]
    fn the_chart_is_a_png_with_the_series_drawn() {
        let png = chart().png(320, 240).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((frame.width, frame.height), (320, 240));
        assert_eq!(frame.color_type, png::ColorType::Rgb);
        let pixels = &pixels[..frame.buffer_size()];
        // The series' colour, the white background and dark text are all there.
        let count = |rgb: [u8; 3]| pixels.chunks(3).filter(|p| *p == rgb).count();
        assert!(count([214, 39, 40]) > 100, "the line is drawn");
        assert!(count([255, 255, 255]) > 320 * 240 / 2, "mostly white");
        assert!(
            pixels.chunks(3).any(|p| p.iter().all(|c| *c < 80)),
            "text is drawn"
        );
    }

    #[test]
    fn axis_ends_are_round() {
        assert_eq!(nice_ceiling(7_300.0), 10_000.0);
        assert_eq!(nice_ceiling(180.0), 200.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(label(4_000.0), "4K");
        assert_eq!(label(1_600.0), "1600");
        assert_eq!(label(0.5), "0.5");
    }
}
