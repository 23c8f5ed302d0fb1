//! Biểu 06 as files laid out like the official form: a title with the period and the agency, the
//! three header rows with merged cells and Vietnamese headings, the column numbers (1)–(13), one
//! row per field (or procedure) and the totals row. XLSX through rust_xlsxwriter; CSV (UTF-8 with
//! a byte-order mark, or Excel garbles Vietnamese) with the same rows, merged cells written once.

use crate::periods::Days;
use motcua_proto::reporting::Form06Row;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

pub const TITLE: &str = "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH";
pub const FORM: &str = "Biểu số 06/VPCP/KSTT";

/// What the file is about.
#[derive(Debug, Clone)]
pub struct Heading {
    pub days: Days,
    /// "Sở Nông nghiệp và Môi trường" or "Toàn tỉnh".
    pub agency: String,
}

impl Heading {
    pub fn period_line(&self) -> String {
        format!(
            "Kỳ báo cáo: từ ngày {} đến ngày {}",
            self.days.from.format("%d/%m/%Y"),
            self.days.to.format("%d/%m/%Y")
        )
    }

    pub fn agency_line(&self) -> String {
        format!("Đơn vị báo cáo: {}", self.agency)
    }

    /// e.g. `bieu-06_2026-03-01_2026-03-31.xlsx`.
    pub fn file_name(&self, extension: &str) -> String {
        format!("bieu-06_{}_{}.{extension}", self.days.from, self.days.to)
    }
}

/// The header cells: (first row, first column, last row, last column, text), rows counted from
/// the first header row. Merged where they span more than one cell.
pub const HEADER: &[(u32, u16, u32, u16, &str)] = &[
    (0, 0, 2, 0, "STT"),
    (0, 1, 2, 1, "Lĩnh vực, công việc giải quyết theo cấp"),
    (0, 2, 0, 5, "Số hồ sơ nhận giải quyết"),
    (0, 6, 0, 9, "Kết quả giải quyết: số hồ sơ đã giải quyết"),
    (0, 10, 0, 12, "Số hồ sơ đang giải quyết"),
    (1, 2, 2, 2, "Tổng số"),
    (1, 3, 1, 4, "Trong kỳ"),
    (1, 5, 2, 5, "Từ kỳ trước"),
    (2, 3, 2, 3, "Trực tuyến"),
    (2, 4, 2, 4, "Trực tiếp, dịch vụ bưu chính"),
    (1, 6, 2, 6, "Tổng số"),
    (1, 7, 2, 7, "Trước hạn"),
    (1, 8, 2, 8, "Đúng hạn"),
    (1, 9, 2, 9, "Quá hạn"),
    (1, 10, 2, 10, "Tổng số"),
    (1, 11, 2, 11, "Trong hạn"),
    (1, 12, 2, 12, "Quá hạn"),
];

/// Rows before the header: form name, title, period, agency, a blank line.
const HEADER_ROW: u32 = 5;
const COLUMNS: u16 = 13;

/// The line under the table: resolved dossiers in none of (8)–(10), and so in no percentage.
pub fn unclassified_note(total: &Form06Row) -> String {
    format!(
        "Ghi chú: cột (7) gồm {} hồ sơ từ chối giải quyết, rút hoặc dừng xử lý, không tính vào các cột (8), (9), (10) và các tỷ lệ.",
        total.resolved_unclassified
    )
}

/// The shares of early, on time and late as every output prints them (the dashboard, XLSX, CSV):
/// of the classified resolved dossiers, columns (8) + (9) + (10), so the three make 100%
/// ([`crate::form06::percentages`]).
pub fn percentages_line(total: &Form06Row) -> String {
    let (early, on_time, late, rate) = crate::form06::percentages(total);
    let classified = total.resolved_early + total.resolved_on_time + total.resolved_late;
    if classified == 0 {
        return "Tỷ lệ: chưa có hồ sơ đã giải quyết được tính trước hạn, đúng hạn hay quá hạn."
            .into();
    }
    let pct = |v: f64| format!("{v:.1}").replace('.', ",");
    format!(
        "Tỷ lệ trên {classified} hồ sơ đã giải quyết có tính hạn (cột (8) + (9) + (10)): trước hạn {}%, đúng hạn {}%, quá hạn {}%; trước hạn và đúng hạn {}%.",
        pct(early),
        pct(on_time),
        pct(late),
        pct(rate)
    )
}

fn label(r: &Form06Row) -> String {
    if r.procedure_code.is_empty() {
        r.field_name.clone()
    } else {
        format!(
            "{} — {} ({})",
            r.field_name, r.procedure_name, r.procedure_code
        )
    }
}

/// The workbook's bytes.
pub fn xlsx(
    heading: &Heading,
    rows: &[Form06Row],
    total: &Form06Row,
) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Biểu 06")?;
    let bold = Format::new().set_bold();
    let title = Format::new()
        .set_bold()
        .set_font_size(13)
        .set_align(FormatAlign::Center);
    let center = Format::new().set_align(FormatAlign::Center);
    let head = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_border(FormatBorder::Thin);
    let cell = Format::new().set_border(FormatBorder::Thin);
    let total_cell = Format::new().set_bold().set_border(FormatBorder::Thin);
    sheet.write_string_with_format(0, 0, FORM, &bold)?;
    sheet.merge_range(1, 0, 1, COLUMNS - 1, TITLE, &title)?;
    sheet.merge_range(2, 0, 2, COLUMNS - 1, &heading.period_line(), &center)?;
    sheet.merge_range(3, 0, 3, COLUMNS - 1, &heading.agency_line(), &center)?;
    for &(r1, c1, r2, c2, text) in HEADER {
        let (r1, r2) = (HEADER_ROW + r1, HEADER_ROW + r2);
        if r1 == r2 && c1 == c2 {
            sheet.write_string_with_format(r1, c1, text, &head)?;
        } else {
            sheet.merge_range(r1, c1, r2, c2, text, &head)?;
        }
    }
    let numbers_row = HEADER_ROW + 3;
    for c in 0..COLUMNS {
        sheet.write_string_with_format(numbers_row, c, format!("({})", c + 1), &head)?;
    }
    let mut row = numbers_row + 1;
    for (i, r) in rows.iter().enumerate() {
        sheet.write_number_with_format(row, 0, (i + 1) as f64, &cell)?;
        sheet.write_string_with_format(row, 1, label(r), &cell)?;
        for (j, n) in crate::form06::columns(r).iter().enumerate() {
            sheet.write_number_with_format(row, 2 + j as u16, *n as f64, &cell)?;
        }
        row += 1;
    }
    sheet.merge_range(row, 0, row, 1, "Tổng cộng", &total_cell)?;
    for (j, n) in crate::form06::columns(total).iter().enumerate() {
        sheet.write_number_with_format(row, 2 + j as u16, *n as f64, &total_cell)?;
    }
    sheet.write_string(row + 2, 0, unclassified_note(total))?;
    sheet.write_string(row + 3, 0, percentages_line(total))?;
    sheet.set_column_width(0, 5)?;
    sheet.set_column_width(1, 40)?;
    for c in 2..COLUMNS {
        sheet.set_column_width(c, 12)?;
    }
    book.save_to_buffer()
}

/// The CSV's bytes (UTF-8 with a byte-order mark).
pub fn csv(
    heading: &Heading,
    rows: &[Form06Row],
    total: &Form06Row,
) -> Result<Vec<u8>, csv::Error> {
    let mut out = vec![0xEF, 0xBB, 0xBF];
    {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(&mut out);
        w.write_record([FORM])?;
        w.write_record([TITLE])?;
        w.write_record([heading.period_line()])?;
        w.write_record([heading.agency_line()])?;
        for header_row in 0..3u32 {
            let mut line = vec![String::new(); COLUMNS as usize];
            for &(r1, c1, _, _, text) in HEADER {
                if r1 == header_row {
                    line[c1 as usize] = text.to_owned();
                }
            }
            w.write_record(&line)?;
        }
        w.write_record((1..=COLUMNS).map(|c| format!("({c})")))?;
        for (i, r) in rows.iter().enumerate() {
            let mut line = vec![(i + 1).to_string(), label(r)];
            line.extend(crate::form06::columns(r).iter().map(u64::to_string));
            w.write_record(&line)?;
        }
        let mut line = vec!["Tổng cộng".to_owned(), String::new()];
        line.extend(crate::form06::columns(total).iter().map(u64::to_string));
        w.write_record(&line)?;
        w.write_record([unclassified_note(total)])?;
        w.write_record([percentages_line(total)])?;
        w.flush()?;
    }
    Ok(out)
}
